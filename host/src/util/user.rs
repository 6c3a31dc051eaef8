//! Who runs this process, as the system vouches for it: the uid on Unix, the user's
//! SID on Windows. A name from the environment (`USER`, `USERNAME`) goes with it for
//! people to read, never in its place: the process can set its environment, not its
//! uid or its token.

/// The user's id as the system gives it: `uid:1000`, or `sid:S-1-5-21-...`.
pub fn id() -> String {
    platform::id()
}

/// The user's name from the environment, where it is set and not empty.
pub fn name() -> Option<String> {
    std::env::var(platform::NAME_VARIABLE)
        .ok()
        .filter(|u| !u.is_empty())
}

/// The user for people to read: `alice (uid 1000)`, or the id alone.
pub fn shown() -> String {
    let id = id().replacen(':', " ", 1);
    match name() {
        Some(name) => format!("{name} ({id})"),
        None => id,
    }
}

#[cfg(unix)]
mod platform {
    pub const NAME_VARIABLE: &str = "USER";

    pub fn id() -> String {
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        format!("uid:{uid}")
    }
}

#[cfg(windows)]
mod platform {
    pub const NAME_VARIABLE: &str = "USERNAME";

    pub fn id() -> String {
        match super::sid() {
            Ok(sid) => format!("sid:{sid}"),
            // Only a process without a token could get here; it is nobody in
            // particular, and its runs say so rather than borrow a name.
            Err(e) => format!("sid:unknown ({e})"),
        }
    }
}

/// The SID of the process's user, as text (`S-1-5-21-...`).
#[cfg(windows)]
pub fn sid() -> std::io::Result<String> {
    use windows_sys::Win32::Foundation::{CloseHandle, LocalFree, HANDLE};
    use windows_sys::Win32::Security::Authorization::ConvertSidToStringSidW;
    use windows_sys::Win32::Security::{GetTokenInformation, TokenUser, TOKEN_QUERY, TOKEN_USER};
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the current process's pseudo handle is always valid; `token` is written
    // on success and closed below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // A TOKEN_USER is followed by the SID it points into: a u64 buffer keeps both
    // aligned, and 256 bytes hold any SID (at most 68 bytes) with the header.
    let mut buffer = [0u64; 32];
    let mut length = 0u32;
    // SAFETY: the buffer's size is passed with it; the token is open for query.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            buffer.as_mut_ptr().cast(),
            std::mem::size_of_val(&buffer) as u32,
            &mut length,
        )
    };
    let error = std::io::Error::last_os_error();
    // SAFETY: `token` was opened above and is closed once.
    unsafe { CloseHandle(token) };
    if ok == 0 {
        return Err(error);
    }
    // SAFETY: GetTokenInformation filled the buffer with a TOKEN_USER.
    let user = unsafe { &*(buffer.as_ptr() as *const TOKEN_USER) };
    let mut text: windows_sys::core::PWSTR = std::ptr::null_mut();
    // SAFETY: the SID points into `buffer`, alive here; `text` is freed below.
    if unsafe { ConvertSidToStringSidW(user.User.Sid, &mut text) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `text` is a NUL-terminated string Windows allocated with LocalAlloc.
    let sid = unsafe { wide_text(text) };
    unsafe { LocalFree(text.cast()) };
    Ok(sid)
}

/// A NUL-terminated UTF-16 string as text.
///
/// # Safety
/// `text` must point to a NUL-terminated UTF-16 string.
#[cfg(windows)]
unsafe fn wide_text(text: *const u16) -> String {
    let mut len = 0;
    // SAFETY: the caller promises a NUL terminator.
    while unsafe { *text.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units were read above.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(text, len) })
}

/// `path` as a NUL-terminated UTF-16 string, as Windows' wide calls take it.
#[cfg(windows)]
fn wide(path: &std::path::Path) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt;
    path.as_os_str().encode_wide().chain(Some(0)).collect()
}

/// Give `path` a protected access list (nothing inherited) that allows this user
/// alone, full control.
#[cfg(windows)]
pub fn restrict_to_me(path: &std::path::Path) -> std::io::Result<()> {
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::Security::Authorization::{
        ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
    };
    use windows_sys::Win32::Security::{
        SetFileSecurityW, DACL_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION,
        PSECURITY_DESCRIPTOR,
    };

    let sddl: Vec<u16> = format!("D:P(A;;FA;;;{})", sid()?)
        .encode_utf16()
        .chain(Some(0))
        .collect();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: `sddl` is NUL-terminated; `descriptor` is freed below.
    let made = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            std::ptr::null_mut(),
        )
    };
    if made == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let path = wide(path);
    // SAFETY: `path` is NUL-terminated; `descriptor` is the one made above.
    let set = unsafe {
        SetFileSecurityW(
            path.as_ptr(),
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            descriptor,
        )
    };
    let error = std::io::Error::last_os_error();
    // SAFETY: made by LocalAlloc in the conversion above, freed once.
    unsafe { LocalFree(descriptor) };
    if set == 0 {
        return Err(error);
    }
    Ok(())
}

/// The access list of `path` as Windows reads it back, in SDDL (`D:P(A;;FA;;;S-...)`).
#[cfg(all(windows, test))]
pub fn access_list_of(path: &std::path::Path) -> std::io::Result<String> {
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::Security::Authorization::{
        ConvertSecurityDescriptorToStringSecurityDescriptorW, SDDL_REVISION_1,
    };
    use windows_sys::Win32::Security::{GetFileSecurityW, DACL_SECURITY_INFORMATION};

    let path = wide(path);
    let mut buffer = vec![0u64; 512];
    let mut needed = 0u32;
    // SAFETY: the buffer's size is passed with it.
    let ok = unsafe {
        GetFileSecurityW(
            path.as_ptr(),
            DACL_SECURITY_INFORMATION,
            buffer.as_mut_ptr().cast(),
            (buffer.len() * 8) as u32,
            &mut needed,
        )
    };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut text: windows_sys::core::PWSTR = std::ptr::null_mut();
    // SAFETY: the buffer holds the descriptor read above; `text` is freed below.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            buffer.as_mut_ptr().cast(),
            SDDL_REVISION_1,
            DACL_SECURITY_INFORMATION,
            &mut text,
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a NUL-terminated string Windows allocated with LocalAlloc.
    let sddl = unsafe { wide_text(text) };
    unsafe { LocalFree(text.cast()) };
    Ok(sddl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_the_systems_and_the_name_only_shown() {
        let id = id();
        #[cfg(unix)]
        assert!(
            id.starts_with("uid:") && id[4..].parse::<u32>().is_ok(),
            "{id}"
        );
        #[cfg(windows)]
        assert!(id.starts_with("sid:S-1-"), "{id}");
        let shown = shown();
        assert!(shown.contains(&id.replacen(':', " ", 1)), "{shown}");
    }
}
