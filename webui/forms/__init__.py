"""WTForms for the shell, accounts, admin and reviewer pages."""
