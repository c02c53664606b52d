//! `labctl testbed`: the command line of the virtual bench, checked and
//! turned into [`testbed`]'s own options; the namespaces, sshds and relay
//! are built there.

use crate::cli::{FaultAction, TestbedArgs, TestbedCommand};
use crate::error::Error;
use crate::testbed::{
    self, binfmt, clock, current_euid, fault, login, relay, require_root, validate_name, UpOptions,
};

pub(super) fn command(args: &TestbedArgs) -> Result<(), Error> {
    match &args.command {
        TestbedCommand::Up {
            name,
            benches,
            arch,
            root,
            no_sudo,
            sudo_lab_only,
            no_network_manager,
            user,
            password_only,
            os,
            clock,
        } => {
            validate_name(name)?;
            let user = user.clone().unwrap_or_else(|| login::USER.to_string());
            login::validate_user(&user)?;
            let clock = match clock {
                Some(c) => clock::parse_specs(c)?,
                None => Vec::new(),
            };
            if !clock.is_empty() && arch.is_some() {
                return Err(Error::Usage(
                    "`--clock` with `--arch`: the ARM hosts' programs are static builds under qemu-user, which libfaketime cannot reach; leave one of them out".into(),
                ));
            }
            require_root(current_euid())?;
            if let Some(arch) = arch {
                binfmt::ensure(arch)?;
            }
            let sudo = if *no_sudo {
                login::Sudo::None
            } else if *sudo_lab_only {
                login::Sudo::LabOnly
            } else {
                login::Sudo::All
            };
            let os = testbed::parse_os(os)?;
            let opts = UpOptions {
                os,
                benches: *benches,
                arch: arch.clone(),
                pi: !*root,
                user,
                sudo,
                nm: !*no_network_manager,
                password_only: *password_only,
                clock,
            };
            let hosts_file = testbed::up(name, &opts)?;
            println!("{}", hosts_file.display());
            Ok(())
        }
        TestbedCommand::Reimage { name, host } => {
            validate_name(name)?;
            require_root(current_euid())?;
            testbed::reimage(name, host)
        }
        TestbedCommand::Down { name } => {
            validate_name(name)?;
            require_root(current_euid())?;
            testbed::down(name)
        }
        TestbedCommand::Status { name } => {
            validate_name(name)?;
            testbed::status(name)
        }
        TestbedCommand::Relay { state } => relay::run(state),
        TestbedCommand::Clock { name, clock } => {
            validate_name(name)?;
            require_root(current_euid())?;
            clock::command(name, clock)
        }
        TestbedCommand::ClockTcpdump { dir, args } => {
            let code = clock::tcpdump(dir, args)?;
            std::process::exit(code)
        }
        TestbedCommand::Fault { name, host, action } => {
            validate_name(name)?;
            let action = match action {
                FaultAction::Silent => fault::Fault::Silent,
                FaultAction::Restore => fault::Fault::Restore,
            };
            fault::command(name, host, action)
        }
    }
}
