"""Credential readers beside the PN532: Wiegand readers and keypads, matrix keypads, QR scanners."""
