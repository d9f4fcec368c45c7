"""The stages put together: load -> plan -> validate -> execute (journaled) -> report."""
