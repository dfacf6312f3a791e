#!/usr/bin/env bash
# Checks on the host that Android backup and device transfer leave behind what only this
# device can open: the keyring prefs (under the file name the locked android-native-keyring-
# store writes) and the database directory the app uses. Reads files; changes nothing.
# Prints "N passed, M failed" last. Usage: android/backup-rules-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RES=android/app/src/main/res/xml
passed=0 failed=0
check() { # description, command...
  local what="$1"
  shift
  if "$@" >/dev/null 2>&1; then passed=$((passed + 1)); echo "ok   $what"; else failed=$((failed + 1)); echo "FAIL $what"; fi
}
# The lines between <tag> and </tag> of a file.
section() { sed -n "/<$2>/,/<\/$2>/p" "$1"; }
excludes() { # text, domain, path
  grep -qF "<exclude domain=\"$2\" path=\"$3\" />" <<<"$1"
}

prefs=keyring-default.xml
for part in cloud-backup device-transfer; do
  text=$(section "$RES/data_extraction_rules.xml" "$part")
  check "$part excludes the key's prefs ($prefs)" excludes "$text" sharedpref "$prefs"
  check "$part excludes the database directory (no_backup/)" excludes "$text" root no_backup/
done
text=$(cat "$RES/backup_rules.xml")
check "full-backup-content excludes the key's prefs" excludes "$text" sharedpref "$prefs"
check "full-backup-content excludes the database directory" excludes "$text" root no_backup/
check "the manifest names both rule files" grep -q 'android:dataExtractionRules="@xml/data_extraction_rules"' android/app/src/main/AndroidManifest.xml
check "the manifest names the pre-Android-12 rules" grep -q 'android:fullBackupContent="@xml/backup_rules"' android/app/src/main/AndroidManifest.xml
check "the app keeps its database under noBackupFilesDir" grep -q 'File(noBackupFilesDir, "tillkit")' android/app/src/main/kotlin/app/tillkit/register/RegisterApplication.kt

# The prefs file is named by the keyring store's default configuration, in the version the
# lock file pins: a new version that renamed it would silently escape the exclusion.
manifest=$(cargo metadata --format-version 1 2>/dev/null \
  | grep -o '"manifest_path":"[^"]*android-native-keyring-store-[^"]*/Cargo.toml"' | head -n 1 \
  | sed 's/^"manifest_path":"//; s/"$//')
store_src="$(dirname "${manifest:-/nonexistent}")/src/by_store/store.rs"
check "android-native-keyring-store writes its vault to ${prefs%.xml}" grep -q "filename: \"${prefs%.xml}\".to_string()" "$store_src"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
