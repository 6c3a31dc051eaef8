//! The `dockwright` command: everything lives in the library; this only reports errors.

fn main() -> std::process::ExitCode {
    dockwright::main()
}
