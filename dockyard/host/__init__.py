"""A stack's state on its host: facts, lease, attempt journal, releases, record, rollback."""
