"""MLflow's console output around model registration."""

from __future__ import annotations

import logging

from mlflow.utils.logging_utils import eprint

from clvlake.modeling.registry import registration_notes_logged


def test_mlflows_registration_notes_go_to_the_debug_log_and_its_other_output_stays_on_stderr(capsys, caplog):
    with caplog.at_level(logging.DEBUG, logger="clvlake.modeling.registry"), registration_notes_logged():
        eprint("Successfully registered model 'clvlake_clv'.")
        eprint("Created version '1' of model 'clvlake_clv'.")
        eprint("WARNING mlflow.models: something a user should see")
    assert capsys.readouterr().err == "WARNING mlflow.models: something a user should see\n"
    assert "mlflow: Created version '1' of model 'clvlake_clv'." in caplog.text
