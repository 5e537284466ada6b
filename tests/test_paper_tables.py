"""Every model declared against a paper's table (``Reference.paper``) has the parameter count the table prints.

Parametrised over the declarations in ``refimpl/specs.py``. That the declared
figures are the papers' own is checked in each family's test file.
"""

from __future__ import annotations

import pytest
import torch
from helpers import PAPER_REFERENCE_MODELS

from refimpl import get_spec
from refimpl.tools.verify import paper_count, paper_params_match


@pytest.mark.parametrize("name", PAPER_REFERENCE_MODELS)
def test_parameter_count_rounds_to_the_papers_table(name: str) -> None:
    spec = get_spec(name)
    assert spec.reference.params is not None, f"{name}: a paper reference needs the table's parameter count"
    with torch.device("meta"):
        params = paper_count(spec.builder(), spec.reference)  # as the paper counts: with or without BN
    assert paper_params_match(params, spec.reference.params), f"{name}: {params:,} vs {spec.reference.params}M"


def test_the_rounding_check_keeps_the_papers_precision() -> None:
    """As many decimals as the paper prints, no more: the check can fail in the last printed digit."""
    assert paper_params_match(1_727_962, "1.7")
    assert paper_params_match(1_727_962, "1.73")
    assert not paper_params_match(1_727_962, "1.72")
    assert not paper_params_match(1_727_962, "1.8")
    assert paper_params_match(269_722, "0.27")
    assert paper_params_match(269_722, "0.270")
    assert not paper_params_match(269_722, "0.28")
    assert not paper_params_match(269_722, "0.269")
