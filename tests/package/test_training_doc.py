"""The example of docs/training.md's "Training options" section runs and logs what the
text says."""
import contextlib
import io
import pathlib
import re

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "training.md"


def test_training_options_example_runs():
    text = DOC.read_text()
    code = re.findall(r"```python\n(.*?)```", text.split("## Training options")[1], re.S)[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<training.md>", "exec"), {})  # noqa: S102
    assert out.getvalue().strip() == str(sorted(
        ["loss", "accuracy", "f1", "auc", "val_loss", "val_accuracy", "val_f1", "val_auc",
         "epoch_time", "learning_rate", "lr"]))


def test_every_public_option_is_listed():
    import nncore as nc
    text = DOC.read_text().split("## Training options")[1]
    for name in ["SGD", "Adam", "AdamW", "RMSprop", "StepLR", "ExponentialLR",
                 "CosineAnnealingLR", "LambdaLR", "LinearLR", "SequentialLR", "OneCycleLR",
                 "ReduceLROnPlateau", "ModelCheckpoint", "CSVLogger", "LambdaCallback",
                 "LearningRateScheduler", "EarlyStopping", "Accuracy", "TopKAccuracy",
                 "Precision", "Recall", "F1Score", "AUC", "MeanAbsoluteError",
                 "RootMeanSquaredError", "R2Score"]:
        assert hasattr(nc, name), name
        assert re.search(rf"`{name}\b", text), name
