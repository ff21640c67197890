from mer3d.reports.tables import metrics_markdown, metrics_table, published_markdown, run_scores

METRICS = {"protocol": "loso", "folds": 2, "n": 4, "accuracy": 0.5, "uf1": 0.4, "uar": 0.45,
           "classes": ["a", "b"], "per_class_accuracy": {"a": 0.5, "b": 0.5}, "per_class_f1": {"a": 0.4, "b": 0.4},
           "support": {"a": 2, "b": 2}}


def test_the_tables_say_what_the_predictions_were_made_from():
    flow = {**METRICS, "representation": "flow", "eval_windows": 1, "apex_source": "mixed",
            "scoring_precision": "fp32", "flow": {"method": "tvl1", "reference": "onset", "computed_at": 128}}
    line = ("Input: flow (tvl1 flow against the onset frame, computed at 128 px); test windows on annotated "
            "apexes, estimated ones where the sheet has none; scored in fp32")
    assert line in metrics_table(flow).splitlines() and line in metrics_markdown(flow).splitlines()
    spread = {**flow, "eval_windows": 3, "apex_source": "none", "representation": "gray", "flow": None,
              "scoring_precision": "bf16"}
    assert ("Input: gray (frames); 3 test windows spread over each clip (no apex used); scored in bf16"
            in metrics_table(spread).splitlines())
    apex = {**flow, "representation": "apex-flow", "apex_source": "estimated"}
    assert "onset-to-apex flow of estimated apexes" in metrics_table(apex)


def test_runs_from_before_the_input_keys_show_no_input_line():
    assert "Input:" not in metrics_table(METRICS)


PARTS = {**METRICS, "parts": {"casme2": {"n": 3, "accuracy": 2 / 3, "uf1": 0.6, "uar": 0.75},
                              "smic": {"n": 1, "accuracy": 0.0, "uf1": 0.0, "uar": 0.0}}}


def test_composite_runs_get_a_table_per_part():
    lines = metrics_table(PARTS).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("part (pooled)"))
    assert lines[header + 2].split() == ["CASME", "II", "3", "66.67%", "0.6000", "0.7500"]
    assert lines[header + 3].split() == ["SMIC", "1", "0.00%", "0.0000", "0.0000"]
    assert lines[header + 4].split() == ["all", "parts", "4", "50.00%", "0.4000", "0.4500"]
    assert "part (pooled)" not in metrics_table(METRICS)


def test_published_results_stand_beside_the_run():
    published = {"STSTNet": {"composite": (0.7353, 0.7605), "casme2": (0.8382, 0.8686)}, "RCN": {"composite": (0.7432, 0.719)}}
    text = published_markdown({"mer3d (this run)": run_scores(PARTS)}, published)
    assert "| UF1 / UAR | composite | CASME II | SMIC |" in text
    assert "| mer3d (this run) | 0.4000 / 0.4500 | 0.6000 / 0.7500 | 0.0000 / 0.0000 |" in text
    assert "| STSTNet (published) | 0.7353 / 0.7605 | 0.8382 / 0.8686 | - |" in text
    assert "| RCN (published) | 0.7432 / 0.7190 | - | - |" in text


def test_the_input_line_names_a_common_frame_rate():
    resampled = {**METRICS, "representation": "gray", "eval_windows": 1, "apex_source": "annotated",
                 "scoring_precision": "fp32", "fps": 100}
    assert ("Input: gray (frames); every clip resampled to 100 fps; test windows on annotated apexes; scored in fp32"
            in metrics_table(resampled).splitlines())
