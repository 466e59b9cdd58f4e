"""The long-running worker: keeps search in step with the database, runs the daily exports."""
