"""One generator per labelled task: ``gen(rng, lang) -> example dict``.

Each example is built as a structure first, so its label is known exactly,
then written out in the chosen language. ``core.load_task`` calls these until
it has enough distinct examples.
"""
from __future__ import annotations

from . import lexicon as L
from .grammar import Sentence, copula_clause, event_clause, pick, sentiment_sentence

NLI_LABELS = ["entailment", "neutral", "contradiction"]


def gen_sentiment(rng, lang):
    """A judgement ("the dog was (not) good"), sometimes two joined by "but" or "and" (the last
    decides). Half the deciding clauses are negated, so an adjective's polarity alone
    says nothing about the label: a bag of words stays near chance, a model must
    combine "not" with the adjective it negates (word bigrams can)."""
    sent, label = sentiment_sentence(rng, p_but=0.2, p_neg=0.5)
    return {"text": lang.text(sent), "label": int(label)}


def gen_pos(rng, lang):
    """Event, judgement and description sentences with their UD tags; "that" is a determiner
    or a relative pronoun, so one word's tag depends on its context."""
    r = rng.random()
    if r < 0.5:
        # "that" is a determiner here and a pronoun in relative clauses: context decides.
        det = "that" if rng.random() < 0.2 else ("a" if rng.random() < 0.3 else "the")
        sent = Sentence([event_clause(rng, neg=rng.random() < 0.3, p_rel=0.4, det=det)])
    elif r < 0.8:
        sent = sentiment_sentence(rng)[0]
    else:
        sent = Sentence([copula_clause(rng, neg=rng.random() < 0.4, p_rel=0.5,
                                       attr=pick(rng, L.NEUTRAL_ADJ) if rng.random() < 0.5 else None)])
    toks = lang.tokens(sent)
    return {"tokens": [t[0] for t in toks], "tags": [t[1] for t in toks]}


def _nli_event(rng, label):
    neg = rng.random() < 0.3
    p = event_clause(rng, neg=neg, p_adj=0.5, p_rel=0.0)
    i = p.info
    kw = dict(subject=i["subj"], verb=i["verb"], obj=i["obj"], place=i["place"], adj=i["adj"],
              neg=neg, p_adj=0.0, p_pp=0.0, p_rel=0.0)
    if label == "contradiction":
        kw["neg"] = not neg
    elif label == "entailment":
        # Same referent described more generally: drop a modifier or use the hypernym.
        ops = ["hyper"] + (["drop_adj"] if i["adj"] else []) + (["drop_pp"] if i["place"] else [])
        op = pick(rng, ops)
        if op == "hyper":
            kw["subject"] = L.HYPERNYM[i["subj"]]
        elif op == "drop_adj":
            kw["adj"] = None
        else:
            kw["place"] = None
    else:
        # Neutral: add information the premise does not give.
        ops = ["other_obj"] if i["obj"] else []
        ops += (["add_adj"] if not i["adj"] else []) + (["add_pp"] if not i["place"] else [])
        op = pick(rng, ops or ["other_subj"])
        if op == "other_obj":
            pool = L.AGENTS if i["verb"][3] == "agent" else L.NOUNS[i["verb"][3]]
            kw["obj"] = pick(rng, [o for o in pool if o not in (i["obj"], i["subj"])])
        elif op == "add_adj":
            kw["adj"] = pick(rng, L.NEUTRAL_ADJ)
        elif op == "add_pp":
            kw["place"] = pick(rng, L.NOUNS["place"])
        else:
            kw["subject"] = pick(rng, [a for a in L.AGENTS if a != i["subj"]
                                       and L.HYPERNYM[a] in i["verb"][2]])
    return p, event_clause(rng, **kw)


def _nli_copula(rng, label):
    neg = rng.random() < 0.4
    subj = pick(rng, L.AGENTS)
    adj = pick(rng, L.SENTIMENT_ADJ + [w for pr in L.NEUTRAL_PAIRS for w in pr])
    p = copula_clause(rng, subj, adj, neg)
    ant = L.ANTONYM[adj]
    # In this toy world antonyms are complementary: "not happy" means "sad".
    if label == "entailment":
        h = pick(rng, [(subj, ant, not neg), (L.HYPERNYM[subj], adj, neg)])
    elif label == "contradiction":
        h = pick(rng, [(subj, ant, neg), (subj, adj, not neg)])
    else:
        other = pick(rng, [a for a in L.ADJ_DIM if L.ADJ_DIM[a] != L.ADJ_DIM[adj]])
        h = pick(rng, [(subj, other, rng.random() < 0.4),
                       (pick(rng, [a for a in L.AGENTS if a != subj]), adj, neg)])
    return p, copula_clause(rng, h[0], h[1], h[2])


def gen_nli(rng, lang):
    """A premise and a hypothesis edited from it by a rule that fixes the label: a hypernym or a
    dropped modifier entails, added information is neutral, negation or an antonym contradicts
    (antonyms are complementary in this world). Labels are balanced."""
    label = int(rng.integers(3))
    make = _nli_event if rng.random() < 0.6 else _nli_copula
    p, h = make(rng, NLI_LABELS[label])
    return {"premise": lang.text(Sentence([p])), "hypothesis": lang.text(Sentence([h])),
            "label": label}


def gen_qa(rng, lang, n_sentences=(2, 4)):
    """A short story and one question about its only event with an object.

    "the cat slept in the park . the girl ate the cake near the lake . the
    dog was happy ." + "who ate the cake ?" -> girl; "what did the girl eat
    ?" -> cake; "where did the girl eat the cake ?" -> lake. The other
    sentences (an event without an object, a description) have subjects and
    places too, so the answer is the word in the asked role (subject, object,
    place) of the right sentence, and the question names that sentence's
    verb and nouns. Subjects and places are all different, so there is one answer.
    """
    n = int(rng.integers(n_sentences[0], n_sentences[1] + 1))
    subjects = [L.AGENTS[i] for i in rng.permutation(len(L.AGENTS))[:n]]
    places = [L.NOUNS["place"][i] if rng.random() < 0.6 else None
              for i in rng.permutation(len(L.NOUNS["place"]))[:n]]
    k = int(rng.integers(n))
    clauses = []
    for j, subj in enumerate(subjects):
        if j == k:
            verb = pick(rng, [v for v in L.VERBS if v[3] is not None and L.HYPERNYM[subj] in v[2]])
            pool = L.AGENTS if verb[3] == "agent" else L.NOUNS[verb[3]]
            obj = pick(rng, [o for o in pool if o not in subjects])
            c = event_clause(rng, subj, verb, obj=obj, place=places[j], p_adj=0.3, p_pp=0.0, p_rel=0.0)
        elif rng.random() < 0.6:
            verb = pick(rng, [v for v in L.VERBS if v[3] is None and L.HYPERNYM[subj] in v[2]])
            c = event_clause(rng, subj, verb, place=places[j], p_adj=0.3, p_pp=0.0, p_rel=0.0)
        else:
            c = copula_clause(rng, subj, neg=rng.random() < 0.3)
        clauses.append(c)
    info = clauses[k].info
    qtypes = ["who", "what"] + (["where"] if info["place"] else [])
    qtype = pick(rng, qtypes)
    if qtype == "who":
        q, mark = ["who", info["verb"][0], "the", info["obj"], "?"], "subj"
    elif qtype == "what":
        q, mark = ["what", "did", "the", info["subj"], info["verb"][1], "?"], "obj"
    else:
        q, mark = ["where", "did", "the", info["subj"], info["verb"][1], "the", info["obj"], "?"], "place"
    words, start, answer, pos = [], None, None, 0
    for j, c in enumerate(clauses):
        for w, _, m in lang.tokens(Sentence([c])):
            if j == k and m == mark and start is None:
                start, answer = pos, w
            words.append(w)
            pos += len(w) + 1
    return {"context": " ".join(words), "question": " ".join(lang.word(w) for w in q),
            "answer_text": answer, "answer_start": start}


DNA_MOTIFS = ("GATC", "CTAG")  # one is the other reversed: same letters, so base counts cannot tell


def gen_dna(rng, lang, length: int = 12):
    """A random A/C/G/T sequence with one class motif planted at a random place.

    The motifs share no adjacent pair of bases, so a model that looks at
    neighbouring tokens can tell them apart, while a bag of bases cannot.
    """
    while True:
        label = int(rng.integers(2))
        seq = "".join(pick(rng, "ACGT") for _ in range(length))
        m = DNA_MOTIFS[label]
        i = int(rng.integers(0, length - len(m) + 1))
        seq = seq[:i] + m + seq[i + len(m):]
        if DNA_MOTIFS[1 - label] not in seq:
            break
    return {"sequence": seq, "text": " ".join(lang.word(L.DNA_WORDS[b]) for b in seq),
            "label": label}


def gen_negation(rng, lang):
    """Sentence -> the same sentence with its main verb negated (or un-negated)."""
    neg = rng.random() < 0.5
    if rng.random() < 0.6:
        c = event_clause(rng, neg=neg, p_rel=0.2)
        t = event_clause(rng, c.info["subj"], c.info["verb"], not neg, obj=c.info["obj"],
                         place=c.info["place"], adj=c.info["adj"], p_adj=0, p_pp=0, p_rel=0)
        t.S = c.S  # keep the same subject phrase, relative clause included
        if c.info["place"]:
            t.X = c.X
    else:
        c = copula_clause(rng, neg=neg)
        t = copula_clause(rng, c.info["subj"], c.info["adj"], not neg)
        t.S, t.O = c.S, c.O
    return {"source": lang.text(Sentence([c])), "target": lang.text(Sentence([t]))}


def gen_question(rng, lang):
    """Statement -> yes/no question: "the dog chased the cat ." -> "did the dog chase the cat ?"."""
    c = event_clause(rng, neg=False, p_rel=0.2)
    src = lang.text(Sentence([c]))
    body = [w for w, _, _ in c.S] + [c.info["verb"][1]] + [w for w, _, _ in c.O + c.X]
    tgt = " ".join(lang.word(w) for w in ["did"] + body + ["?"])
    return {"source": src, "target": tgt}
