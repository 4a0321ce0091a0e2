"""Card production (制卡): the seven-step card application flow, corrections, loss and
replacement, and the progress query (docs/card-production.md)."""
