#!/usr/bin/env bash
# Makes the Gradle wrapper (gradlew, gradlew.bat, gradle/wrapper/gradle-wrapper.jar) for the
# version in the committed gradle/wrapper/gradle-wrapper.properties, with any Gradle 8.x or 9.x
# on the PATH. Never rewrites the committed properties. Usage: android/make-wrapper.sh
set -euo pipefail
ANDROID_DIR="$(cd "$(dirname "$0")" && pwd)"
PROPERTIES="$ANDROID_DIR/gradle/wrapper/gradle-wrapper.properties"

command -v gradle >/dev/null || { echo "make-wrapper.sh: needs a Gradle on the PATH (https://gradle.org/install/)" >&2; exit 1; }
version=$(sed -n 's|^distributionUrl=.*/gradle-\([0-9][0-9.]*\)-bin\.zip$|\1|p' "$PROPERTIES")
[ -n "$version" ] || { echo "make-wrapper.sh: no -bin distributionUrl in $PROPERTIES" >&2; exit 1; }

# An empty build, so that the Gradle on the PATH never configures this project (its Android
# plugin may need a newer Gradle than the one that makes the wrapper).
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
touch "$scratch/settings.gradle.kts"
(cd "$scratch" && gradle --quiet wrapper --gradle-version "$version" --distribution-type bin)

cp "$scratch/gradlew" "$scratch/gradlew.bat" "$ANDROID_DIR/"
cp "$scratch/gradle/wrapper/gradle-wrapper.jar" "$ANDROID_DIR/gradle/wrapper/"
# The wrapper Gradle wrote for the scratch build must name the same distribution.
grep -qxF "$(grep '^distributionUrl=' "$scratch/gradle/wrapper/gradle-wrapper.properties")" "$PROPERTIES" \
  || { echo "make-wrapper.sh: Gradle wrote another distributionUrl than $PROPERTIES" >&2; exit 1; }
echo "gradle wrapper $version: android/gradlew, android/gradlew.bat, android/gradle/wrapper/gradle-wrapper.jar"
