"""A family's sample / evaluate keys are listed from its own dataclasses, never kept by hand elsewhere."""

from dataclasses import fields

from seqgen import families
from seqgen.app import cli
from tests.conftest import CONFIGS, run_script


def test_keys_come_from_each_familys_dataclasses():
    for args in ("SampleArgs", "EvalArgs"):
        listed = cli.family_keys(args)
        for name in families.FAMILIES:
            cls = getattr(families.get(name), args)
            want = [f.name for f in fields(cls)] if cls is not None else None
            assert [k.split("=")[0] for k in listed[name]] == want if want else name not in listed


def test_keys_flag_prints_them_without_a_checkpoint():
    res = run_script(["scripts/evaluate.py", "--keys"])
    assert "text2pixel: images=500 fidelity_images=200 guidance=run" in res.stdout.splitlines()
    res = run_script(["scripts/sample.py", "--keys"])
    assert any(line.startswith("visual_prompt: ") and "ttt_augment=[colours,dihedral]" in line
               for line in res.stdout.splitlines())


def test_no_hand_kept_family_key_lists_in_the_entry_configs():
    for name in ("sample.yaml", "evaluate.yaml"):
        text = (CONFIGS / name).read_text()
        kept = [f for f in families.FAMILIES if f"#   {f}:" in text or f"# {f}:" in text]
        assert not kept, f"configs/{name} lists keys of {kept} by hand: they are the family's SampleArgs / EvalArgs"
