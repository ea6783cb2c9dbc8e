"""networkx graphs, gensim Word2Vec / Dictionary / TF-IDF, statsmodels
fitted results, transformers configurations."""

from .common import pickle_or_joblib
from .spec import BenignSample, sub_seed

GRAPHS = ("gnp", "digraph", "multigraph", "barabasi", "grid", "weighted")


def _graph(kind, n, seed):
    def make():
        import networkx as nx
        if kind == "gnp":
            return nx.gnp_random_graph(n, 0.2, seed=seed)
        if kind == "digraph":
            return nx.gnp_random_graph(n, 0.15, seed=seed, directed=True)
        if kind == "multigraph":
            g = nx.MultiGraph()
            g.add_edges_from((i, (i * 7 + seed) % n, {"w": i}) for i in range(n))
            return g
        if kind == "barabasi":
            return nx.barabasi_albert_graph(n, 2, seed=seed)
        if kind == "grid":
            return nx.grid_2d_graph(2 + n % 5, 3)
        g = nx.Graph(name="weighted-%d" % n)
        for i in range(n):
            g.add_edge("n%d" % i, "n%d" % ((i + 3) % n), weight=(seed + i) % 17 / 4)
            g.nodes["n%d" % i]["label"] = ["a", "b", "c"][i % 3]
        return g
    return make


def networkx_samples(rng, count, seed):
    out = []
    for i in range(count):
        kind = GRAPHS[(i + seed) % len(GRAPHS)]
        n = rng.randint(4, 60)
        protocol = rng.randint(0, 5)
        out.append(BenignSample("%04d_%s" % (i, kind), "networkx",
                                _graph(kind, n, sub_seed(seed, "networkx", i)),
                                "pickle", protocol,
                                description="networkx %s graph, %d nodes" % (kind, n)))
    return out


WORDS = ("model weights layer tensor gradient batch epoch token vector loss "
         "train test score data graph node edge image text audio").split()


def _sentences(seed, n):
    import random
    r = random.Random(seed)
    return [[r.choice(WORDS) for _ in range(r.randint(3, 9))] for _ in range(n)]


def _gensim(kind, n, seed):
    def make():
        from gensim import corpora, models
        docs = _sentences(seed, n)
        if kind == "word2vec":
            model = models.Word2Vec(docs, vector_size=8 + n % 9, window=2, min_count=1,
                                    workers=1, seed=seed % 10000, epochs=2)
            model.total_train_time = 0.25
        else:
            model = corpora.Dictionary(docs)
            if kind == "tfidf":
                model = models.TfidfModel([model.doc2bow(d) for d in docs])
        return _fixed_lifecycle(model)
    return make


def _fixed_lifecycle(model):
    """gensim logs wall-clock times and speeds in lifecycle_events (also
    in a model's keyed vectors): dropped, so that the file is reproducible."""
    for obj in (model, getattr(model, "wv", None)):
        if getattr(obj, "lifecycle_events", None):
            obj.lifecycle_events = []
    return model


def gensim_samples(rng, count, seed):
    kinds = ("word2vec", "dictionary", "tfidf")
    out = []
    for i in range(count):
        kind = kinds[(i + seed) % len(kinds)]
        n = rng.randint(10, 60)
        protocol = rng.choice((2, 3, 4, 5))
        out.append(BenignSample("%04d_%s" % (i, kind), "gensim",
                                _gensim(kind, n, sub_seed(seed, "gensim", i)),
                                "pickle", protocol,
                                description="gensim %s over %d sentences" % (kind, n)))
    return out


def _statsmodels(kind, n, seed):
    def make():
        import warnings
        import numpy as np
        import statsmodels.api as sm
        warnings.filterwarnings("ignore")
        rng = np.random.default_rng(seed)
        X = sm.add_constant(rng.normal(size=(n, 2)))
        if kind == "ols":
            y = X @ np.array([1.0, 2.0, -1.0]) + rng.normal(size=n)
            return sm.OLS(y, X).fit()
        if kind == "logit":
            y = (X[:, 1] + rng.normal(size=n) > 0).astype(float)
            return sm.Logit(y, X).fit(disp=0)
        if kind == "glm":
            y = rng.poisson(np.exp(0.3 * X[:, 1]))
            return sm.GLM(y, X, family=sm.families.Poisson()).fit()
        y = X @ np.array([0.5, -1.0, 1.0]) + rng.normal(size=n)
        return sm.WLS(y, X, weights=1.0 + rng.random(n)).fit()
    return make


def statsmodels_samples(rng, count, seed):
    kinds = ("ols", "logit", "glm", "wls")
    out = []
    for i in range(count):
        kind = kinds[(i + seed) % len(kinds)]
        n = rng.randint(20, 80)
        writer, protocol, compression = pickle_or_joblib(rng, joblib_share=0.2)
        out.append(BenignSample("%04d_%s_results" % (i, kind), "statsmodels",
                                _statsmodels(kind, n, sub_seed(seed, "statsmodels", i)),
                                writer, protocol, compression,
                                description="statsmodels %s results on %d rows" % (kind, n)))
    return out


CONFIGS = ("BertConfig", "GPT2Config", "LlamaConfig", "T5Config", "ViTConfig",
           "RobertaConfig", "DistilBertConfig", "GenerationConfig")


def _config(kind, size, seed):
    def make():
        import transformers
        cls = getattr(transformers, kind)
        if kind == "GenerationConfig":
            if size % 2:
                return cls(max_new_tokens=16 * size, do_sample=True,
                           temperature=0.5 + size / 10, top_k=10 + size)
            return cls(max_new_tokens=16 * size, num_beams=1 + size % 3)
        hidden = 32 * size
        common = {"vocab_size": 1000 + seed % 5000}
        if kind == "GPT2Config":
            common["vocab_size"] = 50257 + seed % 100
        if kind in ("GPT2Config",):
            return cls(n_embd=hidden, n_layer=size, n_head=2, **common)
        if kind == "T5Config":
            return cls(d_model=hidden, num_layers=size, num_heads=2, **common)
        if kind == "ViTConfig":
            return cls(hidden_size=hidden, num_hidden_layers=size, num_attention_heads=2,
                       image_size=32 * (1 + size % 3))
        if kind == "DistilBertConfig":
            return cls(dim=hidden, n_layers=size, n_heads=2, hidden_dim=hidden * 4, **common)
        return cls(hidden_size=hidden, num_hidden_layers=size, num_attention_heads=2,
                   intermediate_size=hidden * 4, **common)
    return make


def transformers_samples(rng, count, seed):
    out = []
    for i in range(count):
        kind = CONFIGS[(i + seed) % len(CONFIGS)]
        size = rng.randint(1, 6)
        if rng.random() < 0.4:
            writer, protocol = "torch_zip", 2
        else:
            writer, protocol = "pickle", rng.choice((2, 3, 4, 5))
        out.append(BenignSample("%04d_%s" % (i, kind.lower()), "transformers",
                                _config(kind, size, sub_seed(seed, "transformers", i)),
                                writer, protocol,
                                description="transformers %s (size %d)" % (kind, size)))
    return out
