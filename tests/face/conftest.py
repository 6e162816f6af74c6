import pytest

from space.synth.corpus import CorpusConfig, write_corpus


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory):
    """The default synthetic corpus (8 clips, one per emotion), made once per test session."""
    out = tmp_path_factory.mktemp("corpus")
    return write_corpus(out, CorpusConfig(clips=8), progress=False)
