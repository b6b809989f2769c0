; NSIS additions: install the helper as the "WirelaneHelper" Windows service (LocalSystem,
; automatic start), run by the bundled Electron in Node mode, and remove it on uninstall.
!macro customInstall
  nsExec::ExecToLog 'sc.exe stop WirelaneHelper'
  nsExec::ExecToLog 'sc.exe delete WirelaneHelper'
  nsExec::ExecToLog 'sc.exe create WirelaneHelper binPath= "\"$INSTDIR\resources\service\wirelane-helper-service.exe\"" start= auto DisplayName= "Wirelane"'
  nsExec::ExecToLog 'sc.exe description WirelaneHelper "Runs Wirelane WireGuard tunnels"'
  nsExec::ExecToLog 'sc.exe start WirelaneHelper'
!macroend

!macro customUnInstall
  nsExec::ExecToLog 'sc.exe stop WirelaneHelper'
  nsExec::ExecToLog 'sc.exe delete WirelaneHelper'
!macroend
