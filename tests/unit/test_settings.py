"""Settings: several providers in order, and every missing setting named at once."""

from __future__ import annotations

import pytest

from entrypoints.settings import SettingsError, load_settings

JWT = {"AUTH_JWT_SECRET": "j" * 32}
MUX = {"MUX_TOKEN_ID": "i", "MUX_TOKEN_SECRET": "s", "MUX_WEBHOOK_SECRETS": "w"}
CLOUDFLARE = {
    "CLOUDFLARE_ACCOUNT_ID": "a",
    "CLOUDFLARE_API_TOKEN": "t",
    "CLOUDFLARE_WEBHOOK_SECRET": "w",
}


def test_one_provider_form_is_a_list_of_one() -> None:
    """MEDIA_PROVIDER=mux is MEDIA_PROVIDERS=mux; nothing set is the local provider alone."""
    assert load_settings({}).providers == ("local",)
    one = load_settings({"MEDIA_PROVIDER": "MUX", **MUX, **JWT})
    assert (one.providers, one.provider) == (("mux",), "mux")
    assert one.mux is not None
    assert one.cloudflare is None


def test_several_providers_keep_their_order_and_the_first_is_the_default() -> None:
    """MEDIA_PROVIDERS lists providers in order; each listed provider gets its settings."""
    settings = load_settings(
        {"MEDIA_PROVIDERS": " cloudflare, fake ,mux", **MUX, **CLOUDFLARE, **JWT}
    )
    assert settings.providers == ("cloudflare", "fake", "mux")
    assert settings.provider == "cloudflare"
    assert settings.mux is not None
    assert settings.cloudflare is not None
    assert settings.metrics_mode == "off"  # a real provider is listed: metrics opt in


def test_every_missing_setting_of_every_listed_provider_is_named_at_once() -> None:
    """One start tells the operator everything: both providers' keys and the JWT key."""
    with pytest.raises(SettingsError) as raised:
        load_settings({"MEDIA_PROVIDERS": "mux,cloudflare"})
    text = str(raised.value)
    for name in (
        "MUX_TOKEN_ID",
        "MUX_TOKEN_SECRET",
        "MUX_WEBHOOK_SECRETS",
        "CLOUDFLARE_ACCOUNT_ID",
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_WEBHOOK_SECRET",
        "AUTH_JWT_SECRET",
    ):
        assert name in text, name
    assert len(raised.value.problems) == 7


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MEDIA_PROVIDERS": "fake,vimeo,youtube"}, "unknown: 'vimeo', 'youtube'"),
        ({"MEDIA_PROVIDER": "vimeo"}, "MEDIA_PROVIDER must name providers"),
        ({"MEDIA_PROVIDERS": "fake,mux,fake", **MUX, **JWT}, "lists fake more than once"),
        ({"MEDIA_PROVIDERS": "fake", "MEDIA_PROVIDER": "fake"}, "not both"),
    ],
)
def test_bad_provider_lists_are_refused(env: dict[str, str], expected: str) -> None:
    """Unknown names, repeats, and both forms at once are each named."""
    with pytest.raises(SettingsError) as raised:
        load_settings(env)
    assert expected in str(raised.value)


def test_the_fake_beside_a_real_provider_needs_real_credentials() -> None:
    """Development tokens exist only when every provider is embedded (local, fake)."""
    with pytest.raises(SettingsError) as raised:
        load_settings({"MEDIA_PROVIDERS": "fake,mux", **MUX})
    assert "AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY is required with mux" in str(raised.value)
    assert load_settings({"MEDIA_PROVIDERS": "fake,mux", **MUX, **JWT}).embedded is False
    assert load_settings({"MEDIA_PROVIDERS": "fake"}).embedded is True


def test_local_settings_are_read_and_checked() -> None:
    """LOCAL_* tune the workers, ladder and storage; bad values are all named; memory:// is
    refused, since worker processes share the jobs through the database."""
    default = load_settings({})
    assert default.embedded
    assert (default.local.workers, default.local.ladder[-1]) == (1, 1080)
    assert default.local_storage_dir == default.data_dir / "media"
    tuned = load_settings(
        {
            "LOCAL_WORKERS": "3",
            "LOCAL_EMBEDDED_WORKER": "false",
            "LOCAL_LADDER": "720, 360,360",
            "LOCAL_JOB_LEASE_SECONDS": "30",
            "LOCAL_STORAGE_DIR": "/srv/media",
        }
    )
    assert (tuned.local.workers, tuned.local.embedded_worker) == (3, False)
    assert tuned.local.ladder == (360, 720)
    assert (tuned.local.job_lease_seconds, str(tuned.local_storage_dir)) == (30.0, "/srv/media")
    with pytest.raises(SettingsError) as refused:
        load_settings({"LOCAL_WORKERS": "0", "LOCAL_LADDER": "tall", "DATABASE_URL": "memory://"})
    problems = "\n".join(refused.value.problems)
    assert "LOCAL_WORKERS" in problems
    assert "LOCAL_LADDER" in problems
    assert "memory://" in problems


def test_the_x264_preset_is_one_x264_knows() -> None:
    """LOCAL_X264_PRESET defaults to veryfast, takes any of x264's presets in any case, and an
    unknown one stops the start with the list of known ones."""
    assert load_settings({}).local.x264_preset == "veryfast"
    assert load_settings({"LOCAL_X264_PRESET": "Faster"}).local.x264_preset == "faster"
    with pytest.raises(SettingsError) as refused:
        load_settings({"LOCAL_X264_PRESET": "quick"})
    (problem,) = refused.value.problems
    assert problem.startswith("LOCAL_X264_PRESET must be one of ultrafast, superfast, veryfast")
    assert problem.endswith("got 'quick'")


def test_local_and_fake_are_not_listed_together() -> None:
    """Both report through the normalized route, which acts for one provider."""
    with pytest.raises(SettingsError, match="local or fake, not both"):
        load_settings({"MEDIA_PROVIDERS": "local,fake"})
