"""The compact user table (docs/user-table.md): one versioned binary file plus an edit journal.

Modules: table (UserTable: the device API -- lookups, edits, compaction, pages), reader (the
table file: Base, Record), journal (the edit journal), fmt (layout, keys, records), codec
(encoding records and keys), writer (streaming file writer), build (table from a user list),
validate and validate_list (user list checks shared with the host), sitetime (local time text).
"""
