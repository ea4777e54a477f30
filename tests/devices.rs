//! The EVB's I2C devices seen from Linux, and the monitor that inspects the machine and sets
//! device values while the guest runs.

mod support;

use support::{shared_image, Emulator};

fn fixture_shell() -> Option<Emulator> {
    let image = shared_image("ast2600-fixture.img.xz")?;
    let mut emu = Emulator::start(&["--flash", image.to_str().unwrap()]);
    emu.expect("FIXTURE-READY");
    emu.send("\r");
    emu.expect("# ");
    Some(emu)
}

#[test]
fn guest_reads_eeprom_and_a_temperature_the_host_sets() {
    let Some(mut emu) = fixture_shell() else {
        return;
    };
    emu.send("head -c 26 /sys/bus/i2c/devices/7-0050/eeprom; echo\r");
    emu.expect("ast-emu ast2600-evb EEPROM");
    emu.expect("# ");
    emu.send("echo T=$(cat /sys/bus/i2c/devices/8-004d/hwmon/hwmon*/temp1_input)\r");
    emu.expect("T=35000");
    emu.expect("# ");
    // The monitor (Ctrl-a c) sets the sensor while the guest runs.
    emu.send("\x01ctemp 55.0\r");
    emu.expect("now reads 55 C");
    emu.send("echo T=$(cat /sys/bus/i2c/devices/8-004d/hwmon/hwmon*/temp1_input)\r");
    emu.expect("T=55000");
    emu.expect("# ");
    emu.send("poweroff -f\r");
    assert_eq!(emu.wait().code(), Some(0));
}

#[test]
fn monitor_reads_registers_memory_and_the_memory_map() {
    let Some(mut emu) = fixture_shell() else {
        return;
    };
    emu.send("\x01cinfo registers\r");
    emu.expect("cpsr =");
    emu.send("\x01cinfo mtree\r");
    emu.expect("0x1e784000-0x1e784fff uart5");
    // The flash window: the first word of the image (u-boot's reset vector).
    emu.send("\x01cx/4 0x20000000\r");
    emu.expect("0x20000000: 0xea0000c0");
    emu.send("\x01cquit\r");
    assert_eq!(emu.wait().code(), Some(0));
}

/// A sensor the EVB device tree does not have, added with `--i2c-dev`: the guest instantiates
/// it through sysfs, reads the temperature given on the command line, then the one the monitor
/// sets. `i2cdetect -y 8` (when busybox has it) lists it and the EVB's sensor.
#[test]
fn a_sensor_added_on_the_command_line_is_read_and_set_while_running() {
    let Some(image) = shared_image("ast2600-fixture.img.xz") else {
        return;
    };
    let mut emu = Emulator::start(&[
        "--flash",
        image.to_str().unwrap(),
        "--i2c-dev",
        "bus=8,addr=0x4c,type=tmp421,temp=42.5",
    ]);
    emu.expect("FIXTURE-READY");
    emu.send("\r");
    emu.expect("# ");
    emu.send("echo tmp421 0x4c > /sys/bus/i2c/devices/i2c-8/new_device\r");
    emu.expect("# ");
    let read = "echo T=$(cat /sys/bus/i2c/devices/8-004c/hwmon/hwmon*/temp1_input)\r";
    emu.send(read);
    emu.expect("T=42500");
    emu.expect("# ");
    emu.send("\x01ctemp 8 0x4c 60.0\r");
    emu.expect("tmp421 (i2c bus 8, 0x4c) now reads 60 C");
    // The driver keeps a reading for half a second (`tmp421_update_device`: HZ / 2).
    emu.send("sleep 1\r");
    emu.expect("# ");
    emu.send(read);
    emu.expect("T=60000");
    emu.expect("# ");
    emu.send("echo APPLET=$(busybox --list | grep -c -x i2cdetect)\r");
    let seen = emu.expect("# ");
    if seen.contains("APPLET=1") {
        // Both addresses are bound to drivers (lm75, tmp421): listed as UU. Unbound, they
        // answer the probe itself.
        emu.send("i2cdetect -y 8\r");
        emu.expect("40: -- -- -- -- -- -- -- -- -- -- -- -- UU UU -- --");
        emu.expect("# ");
        emu.send("echo 8-004c > /sys/bus/i2c/drivers/tmp421/unbind\r");
        emu.expect("# ");
        emu.send("echo 8-004d > /sys/bus/i2c/drivers/lm75/unbind\r");
        emu.expect("# ");
        emu.send("i2cdetect -y 8\r");
        emu.expect("40: -- -- -- -- -- -- -- -- -- -- -- -- 4c 4d -- --");
        emu.expect("# ");
    } else {
        eprintln!("SKIPPED: i2cdetect -y 8: the fixture's busybox has no i2cdetect applet");
    }
    emu.send("poweroff -f\r");
    assert_eq!(emu.wait().code(), Some(0));
}

/// A bad `--i2c-dev` spec is refused with a clear message and exit code 2, before any boot.
#[test]
fn a_bad_i2c_dev_spec_exits_2() {
    for (spec, message) in [
        (
            "bus=16,addr=0x4c,type=tmp421",
            "bus=16: the AST2600 has I2C buses 0 to 15",
        ),
        ("bus=8,addr=0x4c,type=adt7490", "type=adt7490: known types"),
        (
            "bus=7,addr=0x50,type=tmp105",
            "i2c bus 7: I2C address 0x50 is already in use",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ast-emu"))
            .args(["--i2c-dev", spec])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{spec}: {stderr}");
        assert!(stderr.contains(message), "{spec}: {stderr}");
    }
}
