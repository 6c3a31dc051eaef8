# escape=`

FROM mcr.microsoft.com/windows/servercore:ltsc2022
RUN powershell -Command `
    Write-Host hello
COPY a.txt c:/app/
WORKDIR c:/app
