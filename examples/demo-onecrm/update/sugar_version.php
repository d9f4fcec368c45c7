<?php
$sugar_version = '8.6.4';
$sugar_db_version = '8.6.4';
