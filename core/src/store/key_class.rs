//! iOS only: rewrites an existing keychain item's protection class in place (`SecItemUpdate`),
//! for items an earlier build created with the default `WhenUnlocked`. Never reads, writes or
//! deletes a secret: an update that fails leaves the item as it was.

use core_foundation::base::{CFType, CFTypeRef, TCFType};
use core_foundation::boolean::CFBoolean;
use core_foundation::dictionary::CFDictionary;
use core_foundation::string::CFString;
use security_framework_sys::access_control::{
    SecAccessControlCreateWithFlags, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
};
use security_framework_sys::item::{
    kSecAttrAccessControl, kSecAttrAccount, kSecAttrService, kSecClass, kSecClassGenericPassword,
    kSecUseDataProtectionKeychain,
};
use security_framework_sys::keychain_item::SecItemUpdate;

/// `errSecSuccess`.
const SUCCESS: i32 = 0;
/// `errSecParam`, for an access control the OS would not make.
const PARAM: i32 = -50;

/// Gives the generic-password item `service`/`account` of the data-protection keychain the
/// class `AfterFirstUnlockThisDeviceOnly`, as the same access control an item created now
/// gets (apple-native-keyring-store's `access-policy` modifier: protection, no flags). An
/// item that has it already is rewritten to the same. Err: the OSStatus.
pub(crate) fn make_after_first_unlock_this_device_only(
    service: &str,
    account: &str,
) -> Result<(), i32> {
    // SAFETY: the kSec* names are constant CFStrings exported by the Security framework,
    // borrowed (get rule); SecAccessControlCreateWithFlags returns a new reference or null,
    // owned here (create rule) and released when `access` drops.
    let (class, generic_password, service_key, account_key, data_protection, access_key, access) = unsafe {
        let protection = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly as CFTypeRef;
        let access =
            SecAccessControlCreateWithFlags(std::ptr::null(), protection, 0, std::ptr::null_mut());
        if access.is_null() {
            return Err(PARAM);
        }
        (
            CFString::wrap_under_get_rule(kSecClass),
            CFString::wrap_under_get_rule(kSecClassGenericPassword),
            CFString::wrap_under_get_rule(kSecAttrService),
            CFString::wrap_under_get_rule(kSecAttrAccount),
            CFString::wrap_under_get_rule(kSecUseDataProtectionKeychain),
            CFString::wrap_under_get_rule(kSecAttrAccessControl),
            CFType::wrap_under_create_rule(access as CFTypeRef),
        )
    };
    let query = CFDictionary::from_CFType_pairs(&[
        (class, generic_password.as_CFType()),
        (service_key, CFString::new(service).as_CFType()),
        (account_key, CFString::new(account).as_CFType()),
        (data_protection, CFBoolean::true_value().as_CFType()),
    ]);
    let update = CFDictionary::from_CFType_pairs(&[(access_key, access)]);
    // SAFETY: both dictionaries are valid, immutable and alive for the whole call.
    let status =
        unsafe { SecItemUpdate(query.as_concrete_TypeRef(), update.as_concrete_TypeRef()) };
    if status == SUCCESS {
        Ok(())
    } else {
        Err(status)
    }
}
