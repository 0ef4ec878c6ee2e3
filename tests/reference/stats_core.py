"""Reference values for tests/test_stats_core.py — GENERATED, do not edit by hand.

Produced by ``.venv/bin/python tests/reference/stats_core_make.py``; each value is
preceded by the exact statsmodels / scipy call (t = treatment, c = control; statsmodels
compares its first sample minus its second, so treatment is passed first).
"""

INF = float("inf")
VERSIONS = {"scipy": "1.17.1", "statsmodels": "0.15.0", "numpy": "2.4.6"}

# Aggregates of shared/data/cookie_cats.csv (control gate_30, treatment gate_40):
# pandas.read_csv(...).groupby('version') → size, retention_1.sum(), retention_7.sum(),
# sum_game_rounds mean and var(ddof=1).
COOKIE_CATS = {
    "gate_30": {
        "n": 44700,
        "retention_1": 20034,
        "retention_7": 8502,
        "rounds_mean": 52.45626398210291,
        "rounds_var": 65903.32189749404,
    },
    "gate_40": {
        "n": 45489,
        "retention_1": 20119,
        "retention_7": 8279,
        "rounds_mean": 51.29877552814966,
        "rounds_var": 10669.736421513297,
    },
}

PROPORTIONS = [
    {
        "name": "cookie_cats retention_1",
        "args": (20034, 44700, 20119, 45489),
        "alternative": "two-sided",
        "alpha": 0.05,
        # test_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     correction=False, alternative='two-sided')
        "unpooled_statistic": -1.7840972718297632,
        "unpooled_pvalue": 0.07440786052349997,
        # proportions_ztest([xt, xc], [nt, nc], alternative='two-sided')
        "pooled_statistic": -1.7840862247974725,
        "pooled_pvalue": 0.07440965529691913,
        # confint_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     alpha=0.05)  (one-sided: the bound of the 1-2*alpha two-sided CI)
        "ci": (-0.012392439449445219, 0.0005820998747623034),
    },
    {
        "name": "cookie_cats retention_7",
        "args": (8502, 44700, 8279, 45489),
        "alternative": "two-sided",
        "alpha": 0.05,
        # test_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     correction=False, alternative='two-sided')
        "unpooled_statistic": -3.1640640401490985,
        "unpooled_pvalue": 0.0015558255737072547,
        # proportions_ztest([xt, xc], [nt, nc], alternative='two-sided')
        "pooled_statistic": -3.164358912748191,
        "pooled_pvalue": 0.001554249975614329,
        # confint_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     alpha=0.05)  (one-sided: the bound of the 1-2*alpha two-sided CI)
        "ci": (-0.013281552418885546, -0.00312104421152628),
    },
    {
        "name": "cookie_cats retention_1",
        "args": (20034, 44700, 20119, 45489),
        "alternative": "greater",
        "alpha": 0.05,
        # test_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     correction=False, alternative='larger')
        "unpooled_statistic": -1.7840972718297632,
        "unpooled_pvalue": 0.96279606973825,
        # proportions_ztest([xt, xc], [nt, nc], alternative='larger')
        "pooled_statistic": -1.7840862247974725,
        "pooled_pvalue": 0.9627951723515404,
        # confint_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     alpha=0.1)  (one-sided: the bound of the 1-2*alpha two-sided CI)
        "ci": (-0.011349458109418816, INF),
    },
    {
        "name": "cookie_cats retention_7",
        "args": (8502, 44700, 8279, 45489),
        "alternative": "greater",
        "alpha": 0.05,
        # test_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     correction=False, alternative='larger')
        "unpooled_statistic": -3.1640640401490985,
        "unpooled_pvalue": 0.9992220872131464,
        # proportions_ztest([xt, xc], [nt, nc], alternative='larger')
        "pooled_statistic": -3.164358912748191,
        "pooled_pvalue": 0.9992228750121929,
        # confint_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     alpha=0.1)  (one-sided: the bound of the 1-2*alpha two-sided CI)
        "ci": (-0.012464781957857397, INF),
    },
    {
        "name": "cookie_cats retention_1",
        "args": (20034, 44700, 20119, 45489),
        "alternative": "less",
        "alpha": 0.05,
        # test_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     correction=False, alternative='smaller')
        "unpooled_statistic": -1.7840972718297632,
        "unpooled_pvalue": 0.037203930261749986,
        # proportions_ztest([xt, xc], [nt, nc], alternative='smaller')
        "pooled_statistic": -1.7840862247974725,
        "pooled_pvalue": 0.03720482764845957,
        # confint_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     alpha=0.1)  (one-sided: the bound of the 1-2*alpha two-sided CI)
        "ci": (-INF, -0.0004608814652640996),
    },
    {
        "name": "cookie_cats retention_7",
        "args": (8502, 44700, 8279, 45489),
        "alternative": "less",
        "alpha": 0.05,
        # test_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     correction=False, alternative='smaller')
        "unpooled_statistic": -3.1640640401490985,
        "unpooled_pvalue": 0.0007779127868536274,
        # proportions_ztest([xt, xc], [nt, nc], alternative='smaller')
        "pooled_statistic": -3.164358912748191,
        "pooled_pvalue": 0.0007771249878071645,
        # confint_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     alpha=0.1)  (one-sided: the bound of the 1-2*alpha two-sided CI)
        "ci": (-INF, -0.003937814672554428),
    },
    {
        "name": "small",
        "args": (7, 40, 15, 45),
        "alternative": "two-sided",
        "alpha": 0.05,
        # test_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     correction=False, alternative='two-sided')
        "unpooled_statistic": 1.7125729328750863,
        "unpooled_pvalue": 0.0867911364034237,
        # proportions_ztest([xt, xc], [nt, nc], alternative='two-sided')
        "pooled_statistic": 1.6635522849932323,
        "pooled_pvalue": 0.09620193399184337,
        # confint_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     alpha=0.05)  (one-sided: the bound of the 1-2*alpha two-sided CI)
        "ci": (-0.022872164504663672, 0.3395388311713303),
    },
    {
        "name": "small alpha 0.1",
        "args": (7, 40, 15, 45),
        "alternative": "greater",
        "alpha": 0.1,
        # test_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     correction=False, alternative='larger')
        "unpooled_statistic": 1.7125729328750863,
        "unpooled_pvalue": 0.04339556820171185,
        # proportions_ztest([xt, xc], [nt, nc], alternative='larger')
        "pooled_statistic": 1.6635522849932323,
        "pooled_pvalue": 0.04810096699592169,
        # confint_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     alpha=0.2)  (one-sided: the bound of the 1-2*alpha two-sided CI)
        "ci": (0.03984942685784272, INF),
    },
    {
        "name": "large lift",
        "args": (1200, 10000, 1420, 10300),
        "alternative": "two-sided",
        "alpha": 0.01,
        # test_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     correction=False, alternative='two-sided')
        "unpooled_statistic": 3.800044513164899,
        "unpooled_pvalue": 0.0001446700990850114,
        # proportions_ztest([xt, xc], [nt, nc], alternative='two-sided')
        "pooled_statistic": 3.7953816507732405,
        "pooled_pvalue": 0.00014741650541078667,
        # confint_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     alpha=0.01)  (one-sided: the bound of the 1-2*alpha two-sided CI)
        "ci": (0.005755057740374336, 0.029973097599431498),
    },
    {
        "name": "unbalanced",
        "args": (30, 500, 410, 5000),
        "alternative": "less",
        "alpha": 0.05,
        # test_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     correction=False, alternative='smaller')
        "unpooled_statistic": 1.9456444648262043,
        "unpooled_pvalue": 0.9741512690498363,
        # proportions_ztest([xt, xc], [nt, nc], alternative='smaller')
        "pooled_statistic": 1.728910187020312,
        "pooled_pvalue": 0.9580874147191965,
        # confint_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',
        #     alpha=0.1)  (one-sided: the bound of the 1-2*alpha two-sided CI)
        "ci": (-INF, 0.04059886554153398),
    },
]

MEANS = [
    {
        "name": "cookie_cats sum_game_rounds",
        "args": (
            52.45626398210291,
            65903.32189749404,
            44700,
            51.29877552814966,
            10669.736421513297,
            45489,
        ),
        "alternative": "two-sided",
        "alpha": 0.05,
        # CompareMeans(DescrStatsW(t), DescrStatsW(c)).ttest_ind(
        #     alternative='two-sided', usevar='unequal') and
        #     .tconfint_diff(alpha=0.05, alternative='two-sided', usevar='unequal')
        "welch_statistic": -0.8854374331270666,
        "welch_pvalue": 0.3759243840932619,
        "welch_df": 58595.48142257401,
        "welch_ci": (-3.719705116494647, 1.404728208588149),
        # CompareMeans(DescrStatsW(t), DescrStatsW(c)).ttest_ind(
        #     alternative='two-sided', usevar='pooled') and
        #     .tconfint_diff(alpha=0.05, alternative='two-sided', usevar='pooled')
        "student_statistic": -0.8910426211362962,
        "student_pvalue": 0.3729086824740522,
        "student_df": 90187.0,
        "student_ci": (-3.7035688269172358, 1.3885919190107376),
    },
    {
        "name": "cookie_cats sum_game_rounds",
        "args": (
            52.45626398210291,
            65903.32189749404,
            44700,
            51.29877552814966,
            10669.736421513297,
            45489,
        ),
        "alternative": "greater",
        "alpha": 0.05,
        # CompareMeans(DescrStatsW(t), DescrStatsW(c)).ttest_ind(
        #     alternative='larger', usevar='unequal') and
        #     .tconfint_diff(alpha=0.05, alternative='larger', usevar='unequal')
        "welch_statistic": -0.8854374331270666,
        "welch_pvalue": 0.812037807953369,
        "welch_df": 58595.48142257401,
        "welch_ci": (-3.307758039638234, INF),
        # CompareMeans(DescrStatsW(t), DescrStatsW(c)).ttest_ind(
        #     alternative='larger', usevar='pooled') and
        #     .tconfint_diff(alpha=0.05, alternative='larger', usevar='pooled')
        "student_statistic": -0.8910426211362962,
        "student_pvalue": 0.8135456587629739,
        "student_df": 90187.0,
        "student_ci": (-3.2942197316875292, INF),
    },
    {
        "name": "cookie_cats sum_game_rounds",
        "args": (
            52.45626398210291,
            65903.32189749404,
            44700,
            51.29877552814966,
            10669.736421513297,
            45489,
        ),
        "alternative": "less",
        "alpha": 0.05,
        # CompareMeans(DescrStatsW(t), DescrStatsW(c)).ttest_ind(
        #     alternative='smaller', usevar='unequal') and
        #     .tconfint_diff(alpha=0.05, alternative='smaller', usevar='unequal')
        "welch_statistic": -0.8854374331270666,
        "welch_pvalue": 0.18796219204663095,
        "welch_df": 58595.48142257401,
        "welch_ci": (-INF, 0.9927811317317352),
        # CompareMeans(DescrStatsW(t), DescrStatsW(c)).ttest_ind(
        #     alternative='smaller', usevar='pooled') and
        #     .tconfint_diff(alpha=0.05, alternative='smaller', usevar='pooled')
        "student_statistic": -0.8910426211362962,
        "student_pvalue": 0.1864543412370261,
        "student_df": 90187.0,
        "student_ci": (-INF, 0.9792428237810307),
    },
    {
        "name": "lognormal small (default_rng(1234))",
        "args": (
            6.607220498090189,
            152.67467538474065,
            15,
            3.879976981383259,
            5.804233236260192,
            23,
        ),
        "alternative": "two-sided",
        "alpha": 0.05,
        # CompareMeans(DescrStatsW(t), DescrStatsW(c)).ttest_ind(
        #     alternative='two-sided', usevar='unequal') and
        #     .tconfint_diff(alpha=0.05, alternative='two-sided', usevar='unequal')
        "welch_statistic": -0.8444381046223327,
        "welch_pvalue": 0.411959896307848,
        "welch_df": 14.69708032066481,
        "welch_ci": (-9.623467751291052, 4.168980717877194),
        # CompareMeans(DescrStatsW(t), DescrStatsW(c)).ttest_ind(
        #     alternative='two-sided', usevar='pooled') and
        #     .tconfint_diff(alpha=0.05, alternative='two-sided', usevar='pooled')
        "student_statistic": -1.0359660624611395,
        "student_pvalue": 0.30712696537117923,
        "student_df": 36.0,
        "student_ci": (-8.066324028964182, 2.611836995550323),
    },
    {
        "name": "lognormal small (default_rng(1234))",
        "args": (
            6.607220498090189,
            152.67467538474065,
            15,
            3.879976981383259,
            5.804233236260192,
            23,
        ),
        "alternative": "greater",
        "alpha": 0.1,
        # CompareMeans(DescrStatsW(t), DescrStatsW(c)).ttest_ind(
        #     alternative='larger', usevar='unequal') and
        #     .tconfint_diff(alpha=0.1, alternative='larger', usevar='unequal')
        "welch_statistic": -0.8444381046223327,
        "welch_pvalue": 0.794020051846076,
        "welch_df": 14.69708032066481,
        "welch_ci": (-7.0610508916562615, INF),
        # CompareMeans(DescrStatsW(t), DescrStatsW(c)).ttest_ind(
        #     alternative='larger', usevar='pooled') and
        #     .tconfint_diff(alpha=0.1, alternative='larger', usevar='pooled')
        "student_statistic": -1.0359660624611395,
        "student_pvalue": 0.8464365173144104,
        "student_df": 36.0,
        "student_ci": (-6.164088032482914, INF),
    },
    {
        "name": "normal unequal var (default_rng(1234), after the lognormal draws)",
        "args": (
            10.220683138577321,
            9.124422332719098,
            400,
            10.691913691675603,
            25.428045321933453,
            350,
        ),
        "alternative": "two-sided",
        "alpha": 0.01,
        # CompareMeans(DescrStatsW(t), DescrStatsW(c)).ttest_ind(
        #     alternative='two-sided', usevar='unequal') and
        #     .tconfint_diff(alpha=0.01, alternative='two-sided', usevar='unequal')
        "welch_statistic": 1.5251648234005988,
        "welch_pvalue": 0.12778789089519885,
        "welch_df": 554.7289162991913,
        "welch_ci": (-0.3273713521890459, 1.26983245838561),
        # CompareMeans(DescrStatsW(t), DescrStatsW(c)).ttest_ind(
        #     alternative='two-sided', usevar='pooled') and
        #     .tconfint_diff(alpha=0.01, alternative='two-sided', usevar='pooled')
        "student_statistic": 1.5739888015184844,
        "student_pvalue": 0.11591288380482241,
        "student_df": 748.0,
        "student_ci": (-0.3019098172166479, 1.244370923413212),
    },
]

RELATIVE = [
    {
        "args": (
            0.4481879194630872,
            5.5327854208151335e-06,
            0.44228274967574577,
            5.422601486403468e-06,
        ),
        "alternative": "two-sided",
        "alpha": 0.05,  # z = scipy.stats.norm.isf(0.025) = 1.9599639845400545
        "rel": -0.01317565585974659,
        # delta: R-1 ± z*sqrt(vt/mc² + mt²·vc/mc⁴), 50-digit decimal
        "delta": (-0.02755409900174445, 0.0012027872822512717),
        # fieller: roots of ρ²(mc²-z²vc) - 2ρ·mt·mc + (mt²-z²vt) = 0, minus 1, 50 digits
        "fieller": (-0.02745081366660411, 0.001308352448070588),
    },
    {
        "args": (
            0.4481879194630872,
            5.5327854208151335e-06,
            0.44228274967574577,
            5.422601486403468e-06,
        ),
        "alternative": "greater",
        "alpha": 0.05,  # z = scipy.stats.norm.isf(0.05) = 1.6448536269514729
        "rel": -0.01317565585974659,
        # delta: R-1 ± z*sqrt(vt/mc² + mt²·vc/mc⁴), 50-digit decimal
        "delta": (-0.025242425728265766, INF),
        # fieller: roots of ρ²(mc²-z²vc) - 2ρ·mt·mc + (mt²-z²vt) = 0, minus 1, 50 digits
        "fieller": (-0.02516955496405643, INF),
    },
    {
        "args": (
            0.4481879194630872,
            5.5327854208151335e-06,
            0.44228274967574577,
            5.422601486403468e-06,
        ),
        "alternative": "less",
        "alpha": 0.05,  # z = scipy.stats.norm.isf(0.05) = 1.6448536269514729
        "rel": -0.01317565585974659,
        # delta: R-1 ± z*sqrt(vt/mc² + mt²·vc/mc⁴), 50-digit decimal
        "delta": (-INF, -0.0011088859912274135),
        # fieller: roots of ρ²(mc²-z²vc) - 2ρ·mt·mc + (mt²-z²vt) = 0, minus 1, 50 digits
        "fieller": (-INF, -0.0010346677322981288),
    },
    {
        "args": (0.1, 0.0004, 0.14, 0.0005),
        "alternative": "two-sided",
        "alpha": 0.05,  # z = scipy.stats.norm.isf(0.025) = 1.9599639845400545
        "rel": 0.4000000000000001,
        # delta: R-1 ± z*sqrt(vt/mc² + mt²·vc/mc⁴), 50-digit decimal
        "delta": (-0.30231283099280326, 1.1023128309928034),
        # fieller: roots of ρ²(mc²-z²vc) - 2ρ·mt·mc + (mt²-z²vt) = 0, minus 1, 50 digits
        "fieller": (-0.1504341265876319, 1.4587907569806362),
    },
    {
        "args": (2.0, 0.9, 3.0, 0.5),
        "alternative": "two-sided",
        "alpha": 0.05,  # z = scipy.stats.norm.isf(0.025) = 1.9599639845400545
        "rel": 0.5,
        # delta: R-1 ± z*sqrt(vt/mc² + mt²·vc/mc⁴), 50-digit decimal
        "delta": (-1.0572157463123624, 2.0572157463123624),
        # fieller: roots of ρ²(mc²-z²vc) - 2ρ·mt·mc + (mt²-z²vt) = 0, minus 1, 50 digits
        "fieller": (-0.39342119161125877, 20.505612275713062),
    },
    {
        "args": (0.5, 0.1, 0.6, 0.1),
        "alternative": "two-sided",
        "alpha": 0.05,  # z = scipy.stats.norm.isf(0.025) = 1.9599639845400545
        "rel": 0.19999999999999996,
        # delta: R-1 ± z*sqrt(vt/mc² + mt²·vc/mc⁴), 50-digit decimal
        "delta": (-1.736301580074103, 2.136301580074103),
        # fieller: roots of ρ²(mc²-z²vc) - 2ρ·mt·mc + (mt²-z²vt) = 0, minus 1, 50 digits
        "fieller": (-INF, INF),
    },
    {
        "args": (-4.0, 0.25, -5.0, 0.36),
        "alternative": "greater",
        "alpha": 0.1,  # z = scipy.stats.norm.isf(0.1) = 1.2815515655446004
        "rel": 0.25,
        # delta: R-1 ± z*sqrt(vt/mc² + mt²·vc/mc⁴), 50-digit decimal
        "delta": (-INF, 0.5275796389520302),
        # fieller: roots of ρ²(mc²-z²vc) - 2ρ·mt·mc + (mt²-z²vt) = 0, minus 1, 50 digits
        "fieller": (-INF, 0.5660544334849572),
    },
]

SRM = [
    # scipy.stats.chisquare([5000, 5200], f_exp=None)
    {
        "observed": [5000, 5200],
        "weights": None,
        "statistic": 3.9215686274509802,
        "pvalue": 0.0476703806561615,
    },
    # scipy.stats.chisquare([1000, 1100, 2100], f_exp=[1050.0, 1050.0, 2100.0])
    {
        "observed": [1000, 1100, 2100],
        "weights": [1, 1, 2],
        "statistic": 4.761904761904762,
        "pvalue": 0.09246247606291999,
    },
    # scipy.stats.chisquare([50, 70], f_exp=[36.0, 84.0])
    {
        "observed": [50, 70],
        "weights": [0.3, 0.7],
        "statistic": 7.777777777777779,
        "pvalue": 0.00528928214229387,
    },
    # scipy.stats.chisquare([10133, 9867], f_exp=None)
    {
        "observed": [10133, 9867],
        "weights": None,
        "statistic": 3.5378,
        "pvalue": 0.059984973841669696,
    },
]
