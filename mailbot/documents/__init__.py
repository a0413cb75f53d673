"""Word documents: the package, its text, referral forms, minutes, names, redaction, coding. Pure: no I/O beyond opening a file, no store."""
