"""`e2edrive train --resume --out RUN` continues from the run's saved config: --data is not repeated."""

import json

from e2edrive.commands.train import main as train_main


def test_resume_reads_the_saved_config(tmp_path, capsys):
    run = tmp_path / "run"
    common = ["--model", "ego_mlp", "--batch-size", "4", "--no-progress", "--threads", "1"]
    assert train_main(["--data", "synthetic:16", "--out", str(run), "--max-steps", "2", *common]) == 0
    assert train_main(["--resume", "--out", str(run), "--max-steps", "4", "--no-progress"]) == 0
    stored = json.loads((run / "checkpoint" / "config.json").read_text())["extra"]
    assert stored["step"] == 4 and stored["train_config"]["data"] == "synthetic:16"
    assert stored["train_config"]["model"] == "ego_mlp" and stored["train_config"]["batch_size"] == 4
    capsys.readouterr()
    assert train_main(["--resume", "--out", str(tmp_path / "none")]) == 2  # nothing to resume
    assert "no checkpoint" in capsys.readouterr().err
