"""Who may do what: project roles, API keys, the audit trail."""
