# Registers the Wirelane helper as a Windows service running as LocalSystem.
# Run from an elevated PowerShell:  .\install-service.ps1 -InstallDir "C:\Program Files\Wirelane"
# Remove with:                      .\install-service.ps1 -Uninstall
param(
  [string]$InstallDir = "$env:ProgramFiles\Wirelane",
  [switch]$Uninstall
)
$ErrorActionPreference = 'Stop'
$name = 'WirelaneHelper'

if ($Uninstall) {
  sc.exe stop $name | Out-Null
  sc.exe delete $name
  exit $LASTEXITCODE
}

$node = Join-Path $InstallDir 'node.exe'
$helper = Join-Path $InstallDir 'engine\bin\wirelane-helper'
$store = Join-Path $env:ProgramData 'Wirelane'
# A Node program is not a service binary by itself: the installer ships a service wrapper
# (WinSW-style, wirelane-service.exe) that starts `node wirelane-helper` and stops it with Ctrl+C,
# which the helper handles like SIGINT (disconnect every tunnel, restore the system).
$wrapper = Join-Path $InstallDir 'wirelane-service.exe'
$binPath = "`"$wrapper`" `"$node`" `"$helper`" --socket \\.\pipe\wirelane-helper --store `"$store`""

# The store holds private keys: SYSTEM and Administrators only, no inheritance.
New-Item -ItemType Directory -Force -Path $store | Out-Null
icacls $store /inheritance:r /grant:r 'SYSTEM:(OI)(CI)F' 'Administrators:(OI)(CI)F' | Out-Null

sc.exe create $name binPath= $binPath start= auto obj= LocalSystem DisplayName= 'Wirelane VPN helper'
sc.exe description $name 'Runs Wirelane WireGuard tunnels and serves the Wirelane app.'
sc.exe failure $name reset= 60 actions= restart/2000/restart/5000/restart/10000
sc.exe sidtype $name unrestricted
sc.exe start $name
