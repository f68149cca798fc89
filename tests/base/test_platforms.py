"""pallet.base.platforms: one reader of platform specifiers, as containerd's platforms.Parse
and Normalize read them."""

from __future__ import annotations

import pytest

from pallet.base.platforms import Platform, host_platform, parse_platform


@pytest.mark.parametrize("text, expected", [
    ("linux/amd64", "linux/amd64"), ("Linux/AMD64", "linux/amd64"),
    ("linux/x86_64", "linux/amd64"), ("linux/aarch64", "linux/arm64"),
    ("linux/arm64/v8", "linux/arm64"), ("linux/arm", "linux/arm/v7"),
    ("linux/armhf", "linux/arm/v7"), ("linux/armel", "linux/arm/v6"),
    ("linux/i686", "linux/386"), ("arm64", "linux/arm64"), ("windows/amd64", "windows/amd64")])
def test_specifiers_are_normalised_as_containerd_does(text, expected):
    assert str(parse_platform(text)) == expected


@pytest.mark.parametrize("text, words", [
    ("foo", "unknown operating system or architecture"),
    ("linux/foo", "unknown operating system or architecture"),
    ("a/b/c/d", "cannot parse platform specifier"), ("linux/", "cannot parse platform specifier")])
def test_bad_specifiers_are_refused_in_containerd_words(text, words):
    with pytest.raises(ValueError, match=words):
        parse_platform(text)


def test_index_entries_match_after_normalising_both_sides():
    wanted = parse_platform("linux/arm")
    assert wanted.matches("linux", "arm", "v7") and wanted.matches("linux", "armhf")
    assert not wanted.matches("linux", "arm", "v6")
    assert parse_platform("linux/arm64").matches("linux", "aarch64", "v8")
    assert host_platform() == Platform("linux", host_platform().architecture)
    assert parse_platform("linux").architecture == host_platform().architecture
