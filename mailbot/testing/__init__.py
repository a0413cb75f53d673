"""Test and demo helpers: a real, private mail server (Dovecot + an SMTP relay)."""
