"""The ground floor that `pipeline/`, `stages/` and `trainer/` all stand on: where everything lives in a run folder
(`layout`), the Parquet schemas (`schema`), atomic writers (`atomic`) and the folder lock (`lock`).

It imports no datatrove and nothing heavier than pyarrow, so the trainer stays installable with torch, pyarrow,
safetensors, tokenizers and PyYAML alone."""
