"""Daily open-data dumps: Parquet, CSV, OCDS, manifest and datapackage.json."""
