"""The digits flow of `cairn demo`: train a few scikit-learn models on the digits data and
track every run, then tune one of them with early stopping.

The digits data ships with scikit-learn, so the demo needs no download.
"""

from __future__ import annotations

import time

from rich.progress import Progress

import cairn
from cairn.errors import CairnError

EXPERIMENT = "digits"
EPOCHS = 15
STUDY = "digits-sgd"
TRIALS = 24


def _models():
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.svm import SVC

    return [
        (
            "sgd",
            {"alpha": 1e-4, "eta0": 0.01},
            lambda p: SGDClassifier(
                alpha=p["alpha"], eta0=p["eta0"], learning_rate="constant", random_state=0
            ),
        ),
        (
            "sgd",
            {"alpha": 1e-2, "eta0": 0.001},
            lambda p: SGDClassifier(
                alpha=p["alpha"], eta0=p["eta0"], learning_rate="constant", random_state=0
            ),
        ),
        ("logreg", {"C": 0.01}, lambda p: LogisticRegression(C=p["C"], max_iter=500)),
        ("logreg", {"C": 0.1}, lambda p: LogisticRegression(C=p["C"], max_iter=300)),
        ("svc", {"C": 1.0, "gamma": 0.001}, lambda p: SVC(C=p["C"], gamma=p["gamma"])),
        ("svc", {"C": 10.0, "gamma": 0.01}, lambda p: SVC(C=p["C"], gamma=p["gamma"])),
    ]


def run_demo() -> list[str]:
    """Train and track the demo models; returns the ids of the runs it made."""
    try:
        import numpy as np
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise CairnError("the demo needs scikit-learn: pip install 'cairn[ml]'") from exc

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    models = _models()
    ids = []
    with cairn.start_run("demo", experiment=EXPERIMENT, tags={"source": "cairn demo"}) as parent:
        parent.save("digits-train", {"X": X_train, "y": y_train}, kind="dataset")
        with Progress(transient=True) as progress:
            task = progress.add_task("training", total=len(models))
            for family, params, make in models:
                progress.update(task, description=f"training {family} {params}")
                with cairn.start_run(family, params=params) as run:
                    model = make(params)
                    started = time.perf_counter()
                    if hasattr(model, "partial_fit"):
                        classes = np.unique(y_train)
                        for epoch in range(EPOCHS):
                            model.partial_fit(X_train, y_train, classes=classes)
                            run.log(
                                {
                                    "train_acc": model.score(X_train, y_train),
                                    "val_acc": model.score(X_test, y_test),
                                },
                                step=epoch,
                            )
                    else:
                        model.fit(X_train, y_train)
                    run.log(
                        {
                            "fit_seconds": time.perf_counter() - started,
                            "val_acc": model.score(X_test, y_test),
                        }
                    )
                    run.save("model", model, kind="model")
                    ids.append(run.id)
                progress.advance(task)
    return ids


def tune_demo(trials: int = TRIALS) -> cairn.TuneResult:
    """Search SGD's penalty and step size on the digits with TPE + ASHA, every trial a run."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        (digits.data / 16.0).astype(np.float32), digits.target, test_size=0.25,
        random_state=0, stratify=digits.target,
    )  # fmt: skip

    def objective(trial) -> float:
        from sklearn.linear_model import SGDClassifier

        model = SGDClassifier(
            alpha=trial.params["alpha"], eta0=trial.params["eta0"],
            learning_rate="constant", random_state=0,
        )  # fmt: skip
        classes = np.unique(y_train)
        for epoch in range(EPOCHS):
            model.partial_fit(X_train, y_train, classes=classes)
            trial.report(model.score(X_test, y_test), step=epoch)  # ASHA may stop it here
        return model.score(X_test, y_test)

    space = {"alpha": cairn.loguniform(1e-6, 1e-1), "eta0": cairn.loguniform(1e-4, 1.0)}
    return cairn.tune(
        objective, space, "val_acc", "max", n_trials=trials, executor="local",
        name=STUDY, experiment=f"{EXPERIMENT}-tune", resume=False, seed=0,
    )  # fmt: skip
