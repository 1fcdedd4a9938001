import subprocess
import sys

import httpx

from partnersync.sandbox.server import running_sandbox


def test_running_sandbox_serves_both_apis_and_stops() -> None:
    with running_sandbox(size="tiny", seed=3, latency_ms=1) as sb:
        assert sb.base_url.startswith("http://127.0.0.1:")
        assert sb.knobs.rate_limit_per_second == 10  # the realistic default
        assert sb.knobs.latency_ms == 1
        people = httpx.get(f"{sb.base_url}/v2/people", headers={"X-Api-Key": sb.northpass_key})
        accounts = httpx.get(
            f"{sb.base_url}/api/objects/v1/Account",
            headers={
                "Authorization": f"prm-key {sb.impartner_key}",
                "X-PRM-TenantId": str(sb.tenant_id),
            },
        )
        assert people.status_code == accounts.status_code == 200
        base_url = sb.base_url
    try:
        httpx.get(f"{base_url}/v2/people", timeout=1)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("the server still answers after the block")


def test_main_prints_where_to_connect_and_serves() -> None:
    code = "from partnersync.sandbox.server import main; main('tiny', 0, 1)"
    process = subprocess.Popen(
        [sys.executable, "-u", "-c", code], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        lines: dict[str, str] = {}
        while len(lines) < 5:
            line = process.stdout.readline().strip().removeprefix("export ")
            key, sep, value = line.partition("=")
            if sep:
                lines[key] = value
        response = httpx.get(
            f"{lines['NORTHPASS_BASE_URL']}/v2/groups",
            headers={"X-Api-Key": lines["NORTHPASS_API_KEY"]},
        )
        assert response.status_code == 200
        assert lines["IMPARTNER_BASE_URL"] == lines["NORTHPASS_BASE_URL"]
        assert lines["IMPARTNER_TENANT_ID"] == "1"
    finally:
        process.terminate()
        process.wait(timeout=10)
