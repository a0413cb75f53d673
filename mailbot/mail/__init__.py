"""The mail edges: the IMAP inbox, the SMTP outbox, reading and composing emails, who sent them."""
