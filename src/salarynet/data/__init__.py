"""Reading survey files in any of their header schemas, the shipped snapshot, the live sheet: pandas lives here."""
