"""The network's casework rules: commands, notices, invitations, reminders, digest, Master List, recipients. Pure."""
