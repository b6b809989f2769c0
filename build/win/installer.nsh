; NSIS additions: register the helper as the "WirelaneHelper" Windows service (LocalSystem,
; automatic start) with packaging/service/install-service.ps1, shipped in resources\service,
; and remove it on uninstall.
!macro customInstall
  nsExec::ExecToLog 'powershell.exe -NoProfile -ExecutionPolicy Bypass -File "$INSTDIR\resources\service\install-service.ps1" -InstallDir "$INSTDIR"'
!macroend

!macro customUnInstall
  nsExec::ExecToLog 'powershell.exe -NoProfile -ExecutionPolicy Bypass -File "$INSTDIR\resources\service\install-service.ps1" -Uninstall'
!macroend
