"""Labelled task suite generated from one small grammar (no download, known ground truth).

    from minissl.tasks import load_task, grammar_corpus, grammar_tokenizer
    task = load_task("sentiment", n_train=200, seed=0)
    print(task.show(5))
"""
from .baselines import baseline_scores, bow_logreg_accuracy, majority_accuracy
from .encode import encode_task
from .core import FIELDS, LABEL_NAMES, Task, load_task, load_task_file
from .corpus import grammar_corpus
from .grammar import Language, grammar_tokenizer, grammar_vocab
from .lexicon import make_dictionary
from .senses import SENSES, sense_grid, sense_sentences

TASK_NAMES = ("sentiment", "pos", "nli", "qa", "dna", "bilingual", "negation", "question")

__all__ = ["load_task", "load_task_file", "Task", "FIELDS", "LABEL_NAMES", "TASK_NAMES",
           "grammar_corpus", "grammar_vocab", "grammar_tokenizer", "Language", "make_dictionary",
           "sense_sentences", "sense_grid", "SENSES", "baseline_scores", "bow_logreg_accuracy",
           "majority_accuracy", "encode_task"]
