# Registers the Wirelane helper as the Windows service "WirelaneHelper", running as LocalSystem.
# The NSIS installer runs it elevated (build/win/installer.nsh); by hand, from an elevated PowerShell:
#   .\install-service.ps1 -InstallDir "C:\Program Files\Wirelane"     install (or update) and start
#   .\install-service.ps1 -Uninstall                                   stop and remove
#
# No wrapper executable: the service process is the app's own Electron binary in Node mode
# (ELECTRON_RUN_AS_NODE=1, set in the service's Environment registry value, which the Service
# Control Manager passes to the process), running engine\bin\wirelane-helper --service. With
# --service the helper speaks the SCM protocol itself through the wirelane_io addon
# (StartServiceCtrlDispatcherW on a thread of its own; engine/helper/windows-service.ts), so it
# reports Running, and a Stop or a shutdown disconnects every tunnel and restores the system.
#
# The helper is loaded through resources\app.asar: its files are unpacked (asarUnpack in
# electron-builder.yml) and Electron redirects to them, while its npm dependencies resolve inside
# app.asar. wintun.dll sits beside Wirelane.exe, where the addon loads it from.
param(
  [string]$InstallDir = "$env:ProgramFiles\Wirelane",
  [switch]$Uninstall
)
$ErrorActionPreference = 'Stop'
$name = 'WirelaneHelper'
$group = 'wirelane'

function Invoke-Sc {
  # sc.exe reports failure through its exit code, which PowerShell does not turn into an error.
  & sc.exe @args | Out-Host
  if ($LASTEXITCODE -ne 0) { throw "sc.exe $($args -join ' ') failed with exit code $LASTEXITCODE" }
}

if ($Uninstall) {
  if (Get-Service -Name $name -ErrorAction SilentlyContinue) {
    # Stopping takes tunnels down and restores routes and DNS; wait for it before deleting.
    Stop-Service -Name $name -ErrorAction SilentlyContinue
    (Get-Service -Name $name).WaitForStatus('Stopped', [TimeSpan]::FromSeconds(60))
    Invoke-Sc delete $name
  }
  # The store (%ProgramData%\Wirelane, with private keys) and the group are left for the
  # administrator to remove: deleting someone's tunnels on uninstall would surprise them.
  exit 0
}

$electron = Join-Path $InstallDir 'Wirelane.exe'
$helper = Join-Path $InstallDir 'resources\app.asar\engine\bin\wirelane-helper'
$store = Join-Path $env:ProgramData 'Wirelane'
foreach ($required in @($electron, (Join-Path $InstallDir 'wintun.dll'))) {
  if (-not (Test-Path -LiteralPath $required)) { throw "missing ${required}: is -InstallDir the app's folder?" }
}
# Every path quoted: an unquoted path with spaces is a classic privilege escalation for services.
$binPath = "`"$electron`" `"$helper`" --service --socket \\.\pipe\wirelane-helper --store `"$store`""

# The store holds private keys: SYSTEM and Administrators only, no inheritance.
New-Item -ItemType Directory -Force -Path $store | Out-Null
icacls $store /inheritance:r /grant:r 'SYSTEM:(OI)(CI)F' 'Administrators:(OI)(CI)F' | Out-Null
if ($LASTEXITCODE -ne 0) { throw "icacls could not restrict $store" }

# Who may use the helper (docs/security.md): the members of the local group 'wirelane'. Create
# it and add the person signed in at the console (not the elevated account, which may differ).
if (-not (Get-LocalGroup -Name $group -ErrorAction SilentlyContinue)) {
  New-LocalGroup -Name $group -Description 'May connect and manage Wirelane VPN tunnels' | Out-Null
}
$consoleUser = (Get-CimInstance -ClassName Win32_ComputerSystem).UserName
if ($consoleUser -and -not (Get-LocalGroupMember -Group $group -Member $consoleUser -ErrorAction SilentlyContinue)) {
  Add-LocalGroupMember -Group $group -Member $consoleUser
  Write-Host "Added $consoleUser to '$group'; it applies from their next sign-in."
}

# The image path goes in as one string (New-Service, or the registry when updating): passing a
# value with embedded quotes through sc.exe's command line is mangled by Windows PowerShell 5.1.
$serviceKey = "HKLM:\SYSTEM\CurrentControlSet\Services\$name"
if (Get-Service -Name $name -ErrorAction SilentlyContinue) {
  Stop-Service -Name $name -ErrorAction SilentlyContinue
  Set-ItemProperty -Path $serviceKey -Name 'ImagePath' -Type ExpandString -Value $binPath
  Set-Service -Name $name -StartupType Automatic
} else {
  # New-Service registers a LocalSystem service when no -Credential is given.
  New-Service -Name $name -BinaryPathName $binPath -DisplayName 'Wirelane VPN helper' -StartupType Automatic `
    -Description 'Runs Wirelane WireGuard tunnels and serves the Wirelane app.' | Out-Null
}
# ELECTRON_RUN_AS_NODE makes Wirelane.exe a plain Node runtime for this process only.
Set-ItemProperty -Path $serviceKey -Name 'Environment' -Type MultiString -Value @('ELECTRON_RUN_AS_NODE=1')
# Restart after a crash, and after a stop that reported failure (failureflag 1).
Invoke-Sc failure $name reset= 60 actions= restart/2000/restart/5000/restart/10000
Invoke-Sc failureflag $name 1
Invoke-Sc sidtype $name unrestricted
Start-Service -Name $name
