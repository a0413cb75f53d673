"""mailbot: the automation behind a child welfare network's coordinator mailbox."""

__version__ = "0.1.0"
