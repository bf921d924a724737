"""The compact user table (docs/user-table.md): one versioned binary file plus an edit journal.

Modules: fmt (layout, keys, records), writer (streaming file writer), build (table from a user
list), reader (file reader, Record), journal (edit journal), table (UserTable: the device API),
validate (user list checks shared with the host).
"""
