"""How the job talks to the lake."""

import pytest


@pytest.mark.parametrize("uri, expected", [
    ("mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017/?serverMonitoringMode=poll"),
    ("mongodb://u:p@mongo:27017/?authSource=admin", "mongodb://u:p@mongo:27017/?authSource=admin&serverMonitoringMode=poll"),
    ("mongodb://h/?serverMonitoringMode=stream", "mongodb://h/?serverMonitoringMode=stream"),
])
def test_the_connector_polls_server_state_unless_told_otherwise(uri, expected):
    from spark.lake_to_warehouse import connector_uri

    assert connector_uri(uri) == expected
