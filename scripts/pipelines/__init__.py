"""Compile kfcheck's sample pipelines and lint fixtures with the real KFP SDKs.

Entry points are the bash wrappers ``scripts/compile-pipelines`` (``compile.py``) and
``scripts/sdk-corpus`` (``sdk_corpus.py``). ``layout.py`` maps Python sources to the YAML
files they produce, ``worker.py`` compiles a batch of sources inside one SDK's venv, and
``yamlio.py`` re-serialises YAML exactly the way each SDK does.
"""
