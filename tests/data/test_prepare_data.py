"""scripts/prepare_data.py prepares every family's data: text, images, visual sentences, video."""

import pytest

from seqgen import families
from seqgen.core.errors import ConfigError
from seqgen.core.schema import build, to_plain
from tests.conftest import TINY_TEXT, compose, run_script


@pytest.mark.parametrize("overrides, says", [
    (["data=shapes", "data.n_train=8", "data.n_valid=4", "data.n_test=4"], "prepared: "),
    (["data=visual_sentences", "data.n_valid=2", "data.n_test=1"], "drawn on the fly"),
    (["data=pendulum", "data.n_frames=30", "data.frame_size=16"], "clip pendulum: 30 frames of 16x16"),
    (["data=text_files", "data.train={train}"], "prepared: "),
])
def test_each_kind_of_data_prepares(tmp_path, overrides, says):
    (tmp_path / "t.txt").write_text(TINY_TEXT)
    over = [o.format(train=tmp_path / "t.txt") for o in overrides] + [f"data_root={tmp_path / 'data'}"]
    plain = to_plain(compose(over))
    cls = families.data_config(plain["data"]["name"])
    assert says in build(cls, plain["data"], "data").prepare_into(plain["data_root"])


def test_every_family_data_name_has_one_config():
    for name in families.FAMILIES:
        cls = families.get(name).DataConfig
        assert all(families.data_config(n) is cls for n in cls.names())
    with pytest.raises(ConfigError, match="unknown data.name='nope'.*shapes"):
        families.data_config("nope")


def test_the_script_prepares_image_data(tmp_path):
    res = run_script(["scripts/prepare_data.py", "data=shapes", "data.n_train=8", "data.n_valid=4", "data.n_test=4",
                      f"data_root={tmp_path}"])
    assert f"prepared: {tmp_path}" in res.stdout and any((tmp_path).glob("shapes-*/train_lo.npy"))
