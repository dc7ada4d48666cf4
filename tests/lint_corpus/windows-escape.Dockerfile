# escape=`

FROM registry.example.test/windows/servercore:ltsc2022

SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]

ADD https://downloads.example.test/tool/tool-1.2.3-windows.zip C:\tool.zip

RUN Expand-Archive C:\tool.zip -DestinationPath C:\tool ; `
    Remove-Item C:\tool.zip -Force

USER ContainerUser
ENTRYPOINT ["C:\\tool\\tool.exe"]
