"""`cairn demo`: the supervised digits flow and the RISECamp reinforcement-learning flow."""

from cairn.demo.digits import EXPERIMENT, STUDY, run_demo, tune_demo
from cairn.demo.rl import RLDemo, rl_demo

__all__ = ["EXPERIMENT", "STUDY", "RLDemo", "rl_demo", "run_demo", "tune_demo"]
