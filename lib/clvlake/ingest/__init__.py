"""Landing files → typed, validated, de-duplicated, pseudonymised silver tables (+ quarantine)."""
