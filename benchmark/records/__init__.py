"""Result records: the record schema and the files that hold them (one JSON object per run and metric)."""
