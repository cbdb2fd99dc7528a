"""The measure names: spelled in one module, built from parts that the run measures."""

import pytest

from sklearn_robust.compare import _measures as measures


def test_names_are_built_from_their_parts():
    assert measures.median_critical_distance("noise") == "noise_median_critical_distance"
    assert measures.mean_critical_distance("fgsm") == "fgsm_mean_critical_distance"
    assert measures.never_fooled("pgd") == "pgd_never_fooled"
    assert measures.certified_accuracy(0.25) == "certified_accuracy_r0.25"
    assert measures.certified_accuracy(1) == "certified_accuracy_r1"
    assert measures.som_class_spread("input") == "som_class_spread_input"
    assert measures.som_bmu_shift("pgd", "hidden") == "som_bmu_shift_pgd_hidden"
    assert measures.dpgmm_radius_spearman("kl") == "dpgmm_kl_radius_spearman"


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: measures.never_fooled("cw"), "attack must be one of"),
        (lambda: measures.median_critical_distance("PGD"), "attack must be one of"),
        (lambda: measures.som_bmu_shift("fgsm", "input"), "perturbation must be one of"),
        (lambda: measures.som_class_spread("output"), "layer must be one of"),
        (lambda: measures.dpgmm_radius_spearman("entropy"), "quantity must be one of"),
        (lambda: measures.certified_accuracy(0), "radius must be a positive number"),
        (lambda: measures.certified_accuracy("0.25"), "radius must be a positive number"),
    ],
)
def test_a_part_the_run_does_not_measure_is_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_all_measures_are_distinct_and_follow_the_attacks():
    every = measures.all_measures(measures.ATTACKS, 0.25)
    assert len(every) == len(set(every))
    only_pgd = measures.all_measures(["pgd"], 0.25)
    assert set(only_pgd) < set(every)
    assert not any(name.startswith(("noise_", "fgsm_")) for name in only_pgd)
